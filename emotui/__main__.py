import sys

from emotui.cli import main

sys.exit(main())
