"""Conversion of ImageNet-pretrained ResNets (Detectron / detectron2 Caffe2 blobs,
torchvision state dicts) into the MXNet parameters of the trunk.

    from fcis.convert.readers import read_source
    from fcis.convert.pretrained import convert
    args, auxs, ignored = convert(read_source('R-101.pkl'), 'detectron', depth=101)

names: layer names of ours and of each source; pickle_reader / torch_reader / readers: safe
reading of the source files; pretrained: the conversion itself.
"""
