# mpt_plugin: the commands a newcomer uses.
#   make install   virtual environment (.venv, or VENV=...) with the OpenMMLab stack + mpt_plugin
#   make test      install, then the test suite
#   make demo      install, then the main job on the embedded synthetic assets
#   make demo-hands  install, then hand pre-training on the synthetic hands (before/after numbers)
VENV ?= .venv
WHEELS ?= ../shared/wheels
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mpt_plugin_installed
DATA ?= data/synthetic

.PHONY: install test demo demo-hands assets clean-venv

install: $(STAMP)

$(STAMP): tools/install_deps.sh setup.py requirements/torch.txt requirements/build.txt requirements/runtime.txt requirements/tests.txt
	bash tools/install_deps.sh $(VENV) $(WHEELS)
	touch $(STAMP)

test: install
	$(PY) -m pytest tests

assets: install
	$(PY) tools/make_synthetic_assets.py --out $(DATA) --skip-existing

demo: install assets
	$(PY) tools/demo_mpt_pretrain.py --config configs/mpt_pretrain_demo.py --work-dir work_dirs/mpt_pretrain_demo

demo-hands: install
	$(PY) tools/make_synthetic_assets.py --out $(DATA) --skip-existing --hands
	$(PY) tools/benchmark/bench_mpt_hand_pretrain_learning.py --work-dir work_dirs/mpt_hand_pretrain_demo

clean-venv:
	rm -rf $(VENV)
