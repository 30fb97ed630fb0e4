from rehabclaim.cli.main import app

app()
