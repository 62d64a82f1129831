import sys

from localcluster.cluster import main

sys.exit(main())
