import sys

from cloudpypi.cli import main

sys.exit(main())
