"""python -m flopmeter: see flopmeter._launcher."""
import sys

from ._launcher import main

if __name__ == "__main__":
    sys.exit(main())
