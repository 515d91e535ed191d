"""Image and video I/O: ``image_io`` (the one image reader/writer and the conversion to the networks' planar RGB),
``video_reader`` (the one ffmpeg frame reader and ``VideoError``), ``ffmpeg`` (finding and probing ffmpeg) and
``kinds`` (the one list of image and video extensions, stdlib only). Import the submodule you need.
"""
