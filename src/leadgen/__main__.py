from leadgen.cli.main import app

app()
