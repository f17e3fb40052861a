module github.com/sharpq/sharpq

go 1.26.8

require (
	codeberg.org/sbinet/npyio v0.14.0
	github.com/yalue/onnxruntime_go v1.27.0
	golang.org/x/image v0.48.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/nlpodyssey/gopickle v0.3.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)
