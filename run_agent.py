#!/usr/bin/env python3
"""GENIUS agent command line: ``python run_agent.py --space channel_resnet`` (see README)."""

import sys

from agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
