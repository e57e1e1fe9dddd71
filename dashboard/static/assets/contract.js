// Generated from the Python contract package by `edgefleet contract js`; do not edit.
export const API_PREFIX = "/api/v1";
export const DEVICE_STATES = ["online", "degraded", "offline", "lost"];
export const HEALTH_BANDS = {"cpu": 0.7, "mem": 0.65, "rtt_ms": 50.0};
