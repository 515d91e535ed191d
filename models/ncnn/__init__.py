"""The ncnn importer: bounded reading of .param and .bin, the layers, the graph match, and the Real-ESRGAN
families' graphs (SRVGGNetCompact, RRDBNet), whose helpers the other families' graphs share."""
