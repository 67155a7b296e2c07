"""`framecast ui`: a web page to upload a clip (or pick a sample), run every model on it and compare them.

The page is a face, like the command line: it calls the command modules (:mod:`framecast.predict`,
:mod:`framecast.compare`, :mod:`framecast.render`) and the Python API, never :mod:`framecast.cli`. Gradio, an
optional extra (``pip install 'framecast[ui]'``), is imported only by :mod:`framecast.ui.page` and
:mod:`framecast.ui.server`, and only when the page is served; the other modules here need nothing but framecast.

- :mod:`~framecast.ui.limits`: the caps and defaults, in one place;
- :mod:`~framecast.ui.sources`: what a run predicts: an upload, a sample file, a generated test sequence;
- :mod:`~framecast.ui.choices`: the models a person can tick;
- :mod:`~framecast.ui.runner`: every ticked model on one clip: predictions, scores, timings, files;
- :mod:`~framecast.ui.report`: the results in the page's words (table rows, messages);
- :mod:`~framecast.ui.workspace`: the temporary folder of uploads and results, swept and removed;
- :mod:`~framecast.ui.actions`: what the Run button does, from the page's values to its outputs;
- :mod:`~framecast.ui.page`: the layout; :mod:`~framecast.ui.server`: serving it, queued, until Ctrl-C.
"""
