"""Real containers on one machine: podman builds our images and runs the chart's rendered pods."""
