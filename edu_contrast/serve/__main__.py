"""``python -m edu_contrast.serve --checkpoint runs/X --backend onnx-int8``: serve a run's embeddings."""

import sys

from edu_contrast.serve.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
