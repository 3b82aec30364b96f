"""Alerts: rules evaluated on the pipeline's results, and the sinks their events go to (audit
log, MQTT, webhook, exec hook). No UI imports."""
