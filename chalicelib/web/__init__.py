"""The portal's web pages: server-rendered HTML on the same services as the JSON API."""
