"""Monitoring: node_exporter textfile metrics from the stored states (`metrics`)."""
