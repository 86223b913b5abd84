"""Interactive explorers the notebooks embed (core ipywidgets only).

One module per notebook topic. Each explorer draws a static default figure first (so the page reads well
without a kernel), then returns a widget box with one ``Output`` that is cleared and redrawn. The drawing
callbacks are plain functions of numbers and tensors, tested in pytest without a browser.
"""
