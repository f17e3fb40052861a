# sharpq developer targets. `make test` is what CI runs (.ci/run).

ORT_LIB := .ort/libonnxruntime.so.1

.PHONY: ort build test run fuzz

# ort installs the ONNX Runtime shared library into .ort/ (only when missing).
ort: $(ORT_LIB)

$(ORT_LIB):
	scripts/fetch-ort.sh

build:
	go build -o bin/sharpq ./cmd/sharpq

test: ort
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt needed on:"; echo "$$unformatted"; exit 1; \
	fi
	go vet ./...
	SHARPQ_ORT_LIB=$(abspath $(ORT_LIB)) SHARPQ_REQUIRE_ORT=1 go test -count=1 -timeout 18m ./...

run: ort build
	./bin/sharpq eval --model testmodels/resnet20_fmnist.onnx --data testmodels/fmnist_test1k_u8.npy --labels testmodels/fmnist_test1k_labels.npy --mean 0.2860 --std 0.3530

fuzz:
	go test ./onnxio -run '^$$' -fuzz FuzzDecode -fuzztime 60s
