"""Puts experiments/fcis/tools on sys.path so the tests import gpu_check and gpu_check_lib."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, 'experiments', 'fcis', 'tools')
GPU_CHECK = os.path.join(TOOLS, 'gpu_check.py')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
