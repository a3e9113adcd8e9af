from portal_cli.cli import app

app(prog_name="portal")
