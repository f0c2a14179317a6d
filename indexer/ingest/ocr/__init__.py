"""Text that exists only as pixels: images and scanned PDF pages read by OCR (RapidOCR).

    result     what OCR found: lines with char offsets and boxes, per page (JSON for the catalog)
    images     decode an image file with Pillow into RGB arrays, within a pixel cap
    pdf_pages  which PDF pages need OCR, rendered at `OCR_DPI`
    engine     the RapidOCR engine, built from the wheel's own models (never a download)
    task       the one function the OCR worker process runs per file

Only `task` (in the worker) and `engine` import RapidOCR, Pillow or OpenCV; the writer needs
`result` and `availability` alone.
"""
