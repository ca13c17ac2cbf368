//! Real-mosquitto helpers for tests (work in progress).
