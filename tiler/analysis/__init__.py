"""Analysis: numbers rather than pictures, over the same reading as the render pipeline.

- `area`: a GeoJSON geometry onto a pixel grid (equal-area where the geometry is in degrees) and the
  pixels whose centres fall inside it;
- `measure`: the values a layer or band math gives per pixel (the place an evalscript's
  `eobrowserStats`/`index` output plugs in);
- `statistics`: per interval (acquisition, day, week, month) counts, mean, min, max, standard
  deviation, percentiles and histograms over an area, as JSON or CSV;
- `timelapse`: one frame per acquisition or interval, dated, encoded as WebP, GIF or MP4.

GeoTIFF downloads are an encoding of a render job (`tiler.pipeline.geotiff`).
"""
