"""Media value types and decoding: the bottom layer of the core library.

Owns reading what the stations produce and nothing about what it means: image decoding and model-input
preprocessing (:mod:`~models.media.imaging`), video frame sampling in a child process
(:mod:`~models.media.video`), audio probing, windows and log-mel spectrograms (:mod:`~models.media.audio`)
and block-wise streaming with resampling (:mod:`~models.media.audio_stream`), capture times and their
issues (:mod:`~models.media.timestamps`), content hashes and media IDs (:mod:`~models.media.hashing`),
the CSV tables and rejection records of batch stages (:mod:`~models.media.tables`) and the error types
(:mod:`~models.media.errors`). It imports nothing else of ``models``.
"""
