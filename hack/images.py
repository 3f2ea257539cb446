#!/usr/bin/env python3
"""Build the container images of the local real nodes as OCI archives, without Docker or a registry.

    python3 hack/images.py build [NAME ...]   # build or reuse; prints "<archive-path> <image-ref>" per image
    python3 hack/images.py selftest [NAME ...] # build, unpack and run each image's check (root, Linux)
    python3 hack/images.py list                # the images: NAME REF

NAME is pause, rocketmq or operator (or the image's reference); without one, all three. Sizes and
build times go to stderr. Standard library only: this runs before the virtualenv exists. The builder
itself is the package hack/imagebuild/ (its docstring says how images are made and cached).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from imagebuild.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
