"""The explorer: a latent space you can drive in the browser (``latentlens explore --run RUN``).

A Starlette app (:mod:`.server`) serving one page of plain HTML/CSS/JS from package data (no CDN, no
bundler) and JSON/PNG endpoints over an :class:`~.session.ExplorerSession`, bound to 127.0.0.1.
"""
