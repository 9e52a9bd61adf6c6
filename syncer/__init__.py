"""syncer: a SQL mirror, with full history, of the phone numbers rented from voice/SMS providers.

Data enters through `syncer.providers`, is decided in `syncer.sync`, lands in `syncer.store`
and leaves through `syncer.reports`. The command line (`syncer.cli`) only wires them together.
"""

__version__ = "0.1.0"
