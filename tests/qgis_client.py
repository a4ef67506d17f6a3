"""Run by Debian's /usr/bin/python3 (where QGIS's Python bindings live), not by the test venv:
open a WMS layer from eo-tiler in headless QGIS and render one map image.

    python3 tests/qgis_client.py WMS_URL LAYER CRS XMIN YMIN XMAX YMAX WIDTH HEIGHT OUT.png

Prints one JSON line: whether QGIS found the layer valid, its extent and CRS, and the output path."""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def main(url, layer_name, crs, xmin, ymin, xmax, ymax, width, height, out):
    app = QgsApplication([], False)
    app.initQgis()
    uri = f"crs={crs}&dpiMode=7&format=image/png&layers={layer_name}&styles=&url={url}"
    layer = QgsRasterLayer(uri, "eo-tiler", "wms")
    result = {"valid": layer.isValid(), "error": layer.error().summary() if not layer.isValid() else None}
    if layer.isValid():
        extent = layer.extent()
        result["extent"] = [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()]
        result["crs"] = layer.crs().authid()
        settings = QgsMapSettings()
        settings.setLayers([layer])
        settings.setDestinationCrs(QgsCoordinateReferenceSystem(crs))
        settings.setExtent(QgsRectangle(float(xmin), float(ymin), float(xmax), float(ymax)))
        settings.setOutputSize(QSize(int(width), int(height)))
        settings.setBackgroundColor(QColor(255, 255, 255))
        job = QgsMapRendererSequentialJob(settings)
        job.start()
        job.waitForFinished()
        job.renderedImage().save(out, "PNG")
        result["out"] = out
    print(json.dumps(result))
    app.exitQgis()


if __name__ == "__main__":
    main(*sys.argv[1:])
