// Package calib provides the data sharpq evaluates and calibrates with:
// loaders that turn NumPy .npy files or image folders into preprocessed
// NCHW float32 batches, small .npy writers for committed subsets, and
// top-1/top-5 accuracy counting.
//
// Data sources:
//
//   - A .npy file of images, NCHW (or NHW, read as one channel), uint8 or
//     float32/float64, with an optional 1-D .npy file of integer labels
//     (LoadNPY).
//   - An image folder with one subfolder per class, the classes sorted by
//     name giving the label indices, holding JPEG and PNG files
//     (OpenImageFolder, LoadImageFolder), as torchvision's ImageFolder reads
//     it, resized and cropped as its Resize and CenterCrop do
//     (Preprocess.Size, Resize, Crop); or a folder of images without class
//     subfolders, read without labels unless a labels file is given (Open).
//
// Load picks between the two from the path and reads the images into a
// Dataset in memory; Open gives Images that Evaluate reads batch by batch,
// an image folder decoded as it is read, and an .npy array too large for
// memory read from the file. Either way the images are brought
// to [0,1] the way torchvision's ToTensor does (uint8 values are divided by
// 255) and then normalised per channel with Preprocess's Mean and Std:
// (x - mean[c]) / std[c].
//
// The loaders and metrics are pure Go; Evaluate runs a model in ONNX Runtime (package ort).
package calib
