"""Reading: band files onto any output grid as physical values and a validity mask.

- `bands.read_part`: one product's bands, each window read once at the output's resolution, then
  warped in memory (20 m and 60 m bands land pixel for pixel on the 10 m grid);
- `mosaic.read_mosaic`: several products composited, first valid pixel wins;
- `datasets.DatasetPool`: band files kept open between requests, with their GDAL block caches;
- `jpeg2000`: small full-resolution JPEG 2000 windows decoded by area through OpenJPEG.
"""

from tiler.reading.bands import BandStack, read_part
from tiler.reading.mosaic import read_mosaic

__all__ = ["BandStack", "read_mosaic", "read_part"]
