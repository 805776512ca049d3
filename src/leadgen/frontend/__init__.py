"""The web dashboard and the public quote form, rendered on the server from the api's data."""
