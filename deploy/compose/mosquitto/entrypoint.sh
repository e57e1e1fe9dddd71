#!/bin/sh
# First start: create the dynsec file with the admin account (used by the hub to manage device
# accounts) and the hub's own account with a role that reads every device topic, pinned to the
# hub's client id so that it cannot connect under a device's id (docs/broker.md). An existing
# file is kept as it is: pin an older `hub` account with mosquitto_ctrl's
# `dynsec setClientId hub "$EDGEFLEET_MQTT_CLIENT_ID"` (docs/deploy-production.md).
set -eu
: "${EDGEFLEET_MQTT_CLIENT_ID:?the hub's client id, to pin its account to}"
DYN=/mosquitto/data/dynamic-security.json
if [ ! -f "$DYN" ]; then
    mosquitto_ctrl dynsec init "$DYN" admin "$MOSQUITTO_DYNSEC_PASSWORD"
    mosquitto -c /mosquitto/config/mosquitto.conf -d
    sleep 1
    ctl() { mosquitto_ctrl -u admin -P "$MOSQUITTO_DYNSEC_PASSWORD" dynsec "$@"; }
    ctl createRole hub
    ctl addRoleACL hub subscribePattern 'edgefleet/v1/#' allow
    ctl addRoleACL hub publishClientSend 'edgefleet/v1/#' allow
    ctl addRoleACL hub publishClientReceive 'edgefleet/v1/#' allow
    ctl addRoleACL hub publishClientSend '$CONTROL/dynamic-security/#' allow
    ctl createClient hub -c "$EDGEFLEET_MQTT_CLIENT_ID" -p "$EDGEFLEET_MQTT_PASSWORD"
    ctl addClientRole hub hub
    kill "$(pidof mosquitto)"
    sleep 1
fi
exec mosquitto -c /mosquitto/config/mosquitto.conf
