# sharpq developer targets. `make test` is what CI runs (.ci/run).

ORT_LIB := .ort/libonnxruntime.so.1

.PHONY: ort build test run fuzz race lint

# ort installs the ONNX Runtime shared library into .ort/ (only when missing).
ort: $(ORT_LIB)

$(ORT_LIB):
	scripts/fetch-ort.sh

# VERSION names the build in `sharpq --version` and in every exported model's metadata.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/sharpq ./cmd/sharpq

test: ort
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt needed on:"; echo "$$unformatted"; exit 1; \
	fi
	go vet ./...
	SHARPQ_ORT_LIB=$(abspath $(ORT_LIB)) SHARPQ_REQUIRE_ORT=1 go test -count=1 -timeout 18m ./...

# run is the main job on the bundled model: a data-free W4A4 conversion with a short schedule
# (a few minutes on 2 cores; drop the schedule flags for the fast preset), then the float and
# the quantized model evaluated on the bundled 1000 test images.
run: ort build
	./bin/sharpq convert testmodels/resnet20_fmnist.onnx -o bin/resnet20_fmnist_w4a4.onnx --wbits 4 --abits 4 \
		--images 128 --gen-steps 200 --warmup-iters 50 --refine-steps 20 --iters 300 --save-images bin/synthetic
	./bin/sharpq eval --model testmodels/resnet20_fmnist.onnx --data testmodels/fmnist_test1k_u8.npy --labels testmodels/fmnist_test1k_labels.npy --mean 0.2860 --std 0.3530
	./bin/sharpq eval --model bin/resnet20_fmnist_w4a4.onnx --data testmodels/fmnist_test1k_u8.npy --labels testmodels/fmnist_test1k_labels.npy --mean 0.2860 --std 0.3530

# fuzz runs each fuzz target for FUZZTIME: the ONNX reader, every model check before ONNX
# Runtime loads (on arbitrary bytes, and on valid models with one edit), and the .npy readers. Minimisation is cut short: ONNX seeds are kilobytes.
# A bare "context deadline exceeded" at the end, with no input written, is Go 1.26's race at
# the -fuzztime deadline (go.dev/issue/75804), not a crash; FUZZTIME=Nx counts instead.
FUZZTIME ?= 60s
fuzz: ort
	go test ./onnxio -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) -fuzzminimizetime 3s
	SHARPQ_ORT_LIB=$(abspath $(ORT_LIB)) go test ./convert -run '^$$' -fuzz FuzzModelChecks -fuzztime $(FUZZTIME) -fuzzminimizetime 3s
	SHARPQ_ORT_LIB=$(abspath $(ORT_LIB)) go test ./convert -run '^$$' -fuzz FuzzModelEdits -fuzztime $(FUZZTIME) -fuzzminimizetime 3s
	go test ./calib -run '^$$' -fuzz FuzzLoadNPY -fuzztime $(FUZZTIME) -fuzzminimizetime 3s

# race runs every test under the race detector (about 50 minutes of package tests on 2 cores).
race: ort
	SHARPQ_ORT_LIB=$(abspath $(ORT_LIB)) SHARPQ_REQUIRE_ORT=1 go test -race -count=1 -timeout 180m ./...

# lint runs staticcheck at a pinned version (fetched by the go command, not a module dependency).
lint:
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
