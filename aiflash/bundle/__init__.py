"""The Codabench bundle: competition.yaml rules, phase data packing, the bundle builder and a local
simulation of Codabench's compute worker (spec: shared/spec/codabench.md).

The container image name lives here once; the Dockerfile, the Makefile and competition.yaml's
``docker_image`` must all use this value (the builder refuses a yaml that differs).
"""

DOCKER_IMAGE = "ntire2026raim/aiflash-portrait:1.1.0"
BUNDLE_NAME = "aiflash-portrait-ntire2026"
