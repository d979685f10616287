"""``python -m serve`` / ``biodiv-serve``: run the API with uvicorn."""

from __future__ import annotations

import logging

import typer
import uvicorn

cli = typer.Typer(add_completion=False, help="Run the biodiv-obs web API.")


@cli.command()
def run(host: str = typer.Option("127.0.0.1", help="interface to bind"),
        port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
        reload: bool = typer.Option(False, help="reload on code changes (development)")) -> None:
    """Serve ``serve.app:create_app`` (settings from ``BIODIV_*`` environment variables)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run("serve.app:create_app", factory=True, host=host, port=port, reload=reload)


def main() -> None:
    """Console entry point."""
    cli()


if __name__ == "__main__":
    main()
