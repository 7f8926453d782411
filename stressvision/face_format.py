"""The one image format every face is stored in and every model takes."""

FACE_SIZE = 48  # FER-2013's image size: every face is stored as 48x48 grayscale
FACE_SHAPE = (FACE_SIZE, FACE_SIZE, 1)  # model input: float pixel values in [0, 255]
