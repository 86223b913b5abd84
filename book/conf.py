"""Sphinx configuration of the course site; `make book` (book/build.py) stages it with the notebooks."""

project = "edu_contrast"
author = "edu_contrast authors"
copyright = "edu_contrast authors, MIT licence"
html_title = "edu_contrast: a course on contrastive representation learning"

extensions = ["myst_nb"]
exclude_patterns = ["_curriculum.md", "**/.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# The notebooks arrive executed (quick mode, book/build.py); Sphinx only renders them.
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js = {}  # no widget manager from a CDN: book/build.py replaces widget views with a note

# MathJax 3 served by the site itself (copied from the pip package django-static-mathjax into
# _static/mathjax by book/build.py): the pages need no CDN.
mathjax_path = "mathjax/tex-mml-chtml.js"

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"  # else the browser asks for /favicon.ico, which the site has not
html_theme_options = {
    "repository_url": "https://github.com/edu-contrast/edu_contrast",
    "repository_branch": "v0.2.0",
    "path_to_docs": "",  # page notebooks/01_infonce ↔ notebooks/01_infonce.ipynb in the repository
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "use_download_button": True,
    "show_toc_level": 2,
}
html_context = {"default_mode": "light"}  # unset, the theme reports an empty mode as a console error
