import sys

from infomax.cli import main

sys.exit(main())
