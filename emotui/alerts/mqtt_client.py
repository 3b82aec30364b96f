"""A paho client set up from `[mqtt]`: credentials from the environment and TLS, for the devices'
sink and the fleet console alike."""

from __future__ import annotations

import os
from collections.abc import Mapping

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from emotui.alerts.events import AlertSetupError
from emotui.config import MqttConfig

RECONNECT_DELAY_S = (1, 30)  # paho's reconnect backoff, min and max


def mqtt_client(config: MqttConfig, client_id: str, environ: Mapping[str, str] = os.environ) -> paho.Client:
    """A client with the configured credentials and TLS; raises AlertSetupError naming a missing
    TLS file or one paho cannot use."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.reconnect_delay_set(*RECONNECT_DELAY_S)
    if username := environ.get(config.username_env, "") if config.username_env else "":
        client.username_pw_set(username, environ.get(config.password_env) if config.password_env else None)
    if config.tls:
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(config, key) and not os.path.isfile(getattr(config, key)):
                raise AlertSetupError(f"mqtt.{key}: no such file: {getattr(config, key)}")
        try:
            client.tls_set(ca_certs=config.ca_file or None, certfile=config.cert_file or None,
                           keyfile=config.key_file or None)
        except (OSError, ValueError) as error:
            raise AlertSetupError(f"mqtt: cannot set up TLS: {error}") from None
        client.tls_insecure_set(config.tls_insecure)
    return client
