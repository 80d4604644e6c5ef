"""Field ids of parquet.thrift's structs (apache/parquet-format), named once.

For the two modules that edit parquet metadata without pyarrow: ``rowgroups``
(row groups copied between files, a new footer) and ``row_parquet`` (a row's
counts column chunk written with numpy).
"""

# FileMetaData
FM_SCHEMA, FM_NUM_ROWS, FM_ROW_GROUPS, FM_KV = 2, 3, 4, 5
FM_ENCRYPTION = (8, 9)
# RowGroup
RG_COLUMNS, RG_TOTAL_BYTE_SIZE, RG_NUM_ROWS, RG_FILE_OFFSET = 1, 2, 3, 5
RG_TOTAL_COMPRESSED_SIZE, RG_ORDINAL = 6, 7
# ColumnChunk
CC_FILE_OFFSET, CC_META = 2, 3
CC_DROPPED = (4, 5, 6, 7)  # offset index, column index: outside the row group
CC_ENCRYPTED = (8, 9)
# ColumnMetaData
CM_ENCODINGS, CM_CODEC, CM_NUM_VALUES = 2, 4, 5
CM_UNCOMPRESSED, CM_COMPRESSED = 6, 7
CM_DATA_PAGE, CM_INDEX_PAGE, CM_DICT_PAGE = 9, 10, 11
CM_STATISTICS, CM_ENCODING_STATS, CM_SIZE_STATS = 12, 13, 16
CM_DROPPED = (14, 15)  # bloom filter: outside the row group
# PageHeader
PH_TYPE, PH_UNCOMPRESSED, PH_COMPRESSED, PH_DATA_HEADER, PH_DICT_HEADER = 1, 2, 3, 5, 7
