"""`edgefleet flash`: write cloud-init first-boot set-up into a Raspberry Pi OS image."""
