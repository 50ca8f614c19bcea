"""ZapTrade CRM desktop Agent: polls the CRM's event feed and shows each event as a native pop-up.

It talks to the server only over HTTP (never imports the server's ``app`` package), so it can be
installed alone on a manager's computer.
"""

__version__ = "1.0.0"
APP_NAME = "ZapTrade CRM"
