"""Structured logs: JSON lines in production (for a log pipeline), readable lines locally."""

import logging

import structlog


def structured_formatter(*, as_json: bool) -> logging.Formatter:
    """Build the formatter ``LOGGING`` names, so stdlib and structlog loggers look alike."""
    renderer = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        processor=renderer,
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
    )
