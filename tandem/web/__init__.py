"""The web face of Tandem: participants' link pages and the coordinator console.

A second face beside the CLI: handlers parse the request, call one library function in
``tandem.program`` and render a template. The app holds no state of its own beyond the
database engine, so several processes on one database behave as one.
"""
