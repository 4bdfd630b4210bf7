"""An Open311 GeoReport v2 server, so that existing civic apps can talk to the portal."""
