"""TableStore on S3 through awswrangler (Parquet)."""

import pandas as pd

from tabflow.errors import ObjectNotFound


class WranglerTables:
    def write_parquet(self, frame: pd.DataFrame, uri: str) -> None:
        import awswrangler as wr

        wr.s3.to_parquet(frame, path=uri, index=False, compression="snappy")

    def read_parquet(self, uri: str) -> pd.DataFrame:
        import awswrangler as wr
        from awswrangler.exceptions import NoFilesFound

        try:
            return wr.s3.read_parquet(path=uri)
        except NoFilesFound as exc:
            raise ObjectNotFound(uri) from exc
