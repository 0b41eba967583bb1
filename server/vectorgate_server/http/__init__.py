"""The HTTP/JSON face of the gateway, served in the gRPC server's event loop.

* Every RPC with a ``google.api.http`` rule is transcoded (:mod:`.transcode`):
  no route is written by hand for an RPC.
* The seed's REST paths (:mod:`.compat_vector`, :mod:`.openai_compat`) map
  onto the same RPC handlers and the embedding registry.
* ``/openapi.json`` is generated at start-up from the descriptors
  (:mod:`.openapi`); ``/healthz`` and ``/readyz`` report liveness and
  readiness.

JSON naming: responses use the proto field names (snake_case, like the seeds'
``index_name`` and ``litellm_params``); requests accept those or lowerCamel.
Errors are ``google.rpc.Status`` bodies except on the OpenAI-compatible
routes (see :mod:`.common`).
"""

from __future__ import annotations

from .server import HttpApp, HttpServer, build_app

__all__ = ["HttpApp", "HttpServer", "build_app"]
